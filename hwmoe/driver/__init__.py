"""The host driver of the generated accelerator: load a build (``DIR/image.bin``, ``DIR/layout.json``), write an
input, start, wait, check ERROR, read the output and the counters.  The driver's logic is written once
(:mod:`.core`) against a small backend interface; backends: cocotb simulation (:mod:`.sim`), PYNQ on Zynq
boards (:mod:`.pynq`), XRT on Alveo cards (:mod:`.xrt`).  docs/driver.md has the register sequence."""

hwmoe_dma_fifo.v
hwmoe_dma_addrgen.v
hwmoe_dma_reader.v
hwmoe_dma_writer.v
hwmoe_axi_arbiter.v
hwmoe_scratch.v
hwmoe_dma.v

hwmoe_dma_fifo.v
hwmoe_dma_addrgen.v
hwmoe_dma_writer.v

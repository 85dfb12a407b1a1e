"""Facts about Orion slides shared by the reader, the synthetic data and the viewer."""

ORION_CHANNELS = (
    "Hoechst",
    "AF1",
    "CD31",
    "CD45",
    "CD68",
    "Argo550",
    "CD4",
    "FOXP3",
    "CD8a",
    "CD45RO",
    "CD20",
    "PD-L1",
    "CD3e",
    "CD163",
    "E-cadherin",
    "PD-1",
    "Ki67",
    "Pan-CK",
    "SMA",
)
ORION_PIXEL_SIZE_UM = 0.325
NUCLEAR_MARKERS = frozenset({"Hoechst", "FOXP3", "Ki67"})

"""napari plugin suite for ctlabel: thin readers, writers and widgets over the core."""

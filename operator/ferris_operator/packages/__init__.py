"""FerrisPackage: reconcile, the index of sourced packages, scripts and parameters form."""

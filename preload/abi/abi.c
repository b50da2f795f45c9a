/* SwiftPM needs one source file to build the header-only CHilbertABI target. */

// Our own stand-in for Traefik's in-tree module github.com/traefik/traefik/dynamic/ext: Traefik's
// go.mod replaces it with a local directory (./pkg/config/dynamic/ext) that is neither in the
// v3 module zip nor served by the module proxy, so the wrapper module provides it (see ../go.mod).
module github.com/traefik/traefik/dynamic/ext

go 1.24.0

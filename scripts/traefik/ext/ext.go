// Package ext holds the extension points Traefik's dynamic configuration embeds.
//
// Traefik v3 embeds ext.HTTP in dynamic.HTTPConfiguration and ext.Router in dynamic.Router, both
// inline and copied by value (its generated DeepCopy assigns them). An open-source build adds no
// field to either, so both are empty structs: they add no key to the labels, the file provider or
// the API, and a router or HTTP configuration means exactly what Traefik's own fields say.
package ext

// HTTP is embedded in Traefik's dynamic HTTP configuration; no fields of its own.
type HTTP struct{}

// Router is embedded in Traefik's dynamic router configuration; no fields of its own.
type Router struct{}

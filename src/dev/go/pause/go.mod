// The pause program of the local node's pod sandboxes (main.go).
module orchard.fruits.dev/dev/pause

go 1.25.0

//go:build race

package messagetracereceiver

// raceEnabled: the race detector slows decompression tenfold and makes sync.Pool drop items.
const raceEnabled = true

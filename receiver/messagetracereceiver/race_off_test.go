//go:build !race

package messagetracereceiver

const raceEnabled = false

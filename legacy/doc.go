// Package legacy holds what old phone firmware needs from the appliance:
// the upgrade-path planner (beta → interim → release, driven by each image's
// minimum starting version, never by version-specific branches) and the
// four update-server URLs, which are never empty because Tanjay firmware
// refuses to update when the external ones are blank.
//
// It never imports r2: the appliance adapts the planner to r2.Planner.
package legacy

// Package images is what the appliance knows about firmware: four-part
// versions, the rule a phone model's updates are approved under, the
// Pending/Approved/Restore transitions (pure functions), the minimum
// starting version an image needs, and the content-addressed blob store
// the files live in.
//
// It is a leaf: it imports neither the store nor net/http.
package images

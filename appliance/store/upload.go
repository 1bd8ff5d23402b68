package store

// UploadRefused begins the Detail of an EventUpload the appliance refused
// (507: a cap or the disk floor), followed by why. A stored upload's
// Detail is its URL path, which begins with "/", so the two never mix.
const UploadRefused = "refused"

// Package pkg reads vendor firmware packages for import: UCUpdates.cab, or
// UCUpdates.exe, the self-extracting executable that holds it (the first
// "MSCF" with a consistent header that opens; the largest if there are
// several). It turns the cabinet into Updates, one per .nbt image, each
// with the .cat catalog beside it, and streams their files; storing them is
// the caller's job, so this package imports neither the store nor net/http.
//
// # Identity
//
// Microsoft never published the schemas of updateInfo.xml or of the
// per-update .xml descriptions, so each field of an update's identity
// (device type, vendor, model, revision, locale, update type, version,
// interim) is taken from the first of these that states it:
//
//  1. the description: the .xml beside the image with its stem (CPE.xml
//     for CPE.nbt), or the only .xml in a folder with one image;
//  2. the nearest updateInfo.xml above the image: the element that names
//     the image, its catalog, its description or its folder (by path
//     suffix, either separator) more specifically than any other image,
//     read from that element up to the root; for a lone image, the whole
//     document;
//  3. the names in the cabinet (see fromLayout): the OCS folder layout
//     DeviceType/Vendor/Model/Revision/Locale/Version/UpdateType/CPE.nbt
//     and its shorter forms, OCInterim/<Locale>/…, or file names joining the
//     same parts with underscores;
//  4. the operator's Hints (--device-path, --version, --update-type);
//  5. for the update type only: the image's stem (CPE), else CPE.
//
// In XML, a field is an attribute or a leaf element, matched by local name
// without case or namespace against a list of aliases (Vendor, Brand,
// Manufacturer…; see aliases), or a whole DevicePath. Values that do not
// parse (a version that is not four numbers) count as silent. A hint that
// contradicts the package is refused, as is an image whose device path or
// version nobody states: the message names the file and the flag to give.
//
// # Safety
//
// Open refuses, naming the file: names that are absolute, hold "..",
// colons or control characters, or repeat another name but for case;
// cabinets the cab package refuses (inconsistent headers, Limits exceeded,
// unsupported features); executables without a cabinet; cabinets without
// an image. Bad checksums and blocks that decode to the wrong size surface
// as errors while a PackageFile is read. Metadata XML over 1 MiB is
// refused; XML that does not parse is ignored with a warning.
//
// An import is only as atomic as its caller makes it: read every file of
// every update to io.EOF (into the blob store) before recording any image.
package pkg

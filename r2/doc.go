// Package r2 is the server side of the OCS 2007 R2 / Lync 2010 Device Update
// Service protocol, as Microsoft Office Communicator Phone Edition devices
// (Polycom CX700, LG-Nortel IP8540 "Tanjay", RoundTable, Lync Phone Edition
// phones) speak it:
//
//   - ParseRequest reads a check-in body leniently: the element names of the
//     request were never published, so every item is looked up by element or
//     attribute local name against alias sets, in one streaming pass
//     (parse.go, scan.go, tokens.go).
//   - AppendResponse / RenderResponse is the one place response XML is
//     produced (render.go); the golden files in testdata/checkin pin it.
//   - NewHandler serves the check-in (POST …/ucdevice.upx), the firmware
//     files (GET DeviceUpdateFiles_Int/… and _Ext/…) and device log uploads
//     (any other POST under /RequestHandler…), keeps raw bodies the parser
//     could not fully identify under captures/, and tells an Observer what
//     phones did.
//   - AuditLog writes the OCS R2 update audit log, one CSV file per day.
//
// r2 never decides which firmware a phone gets: a Planner does (the appliance
// plugs in legacy's). It imports neither the store, legacy nor appliance.
// README.md beside this file states the wire contract and which parts of it
// are confirmed and which are our inference.
package r2

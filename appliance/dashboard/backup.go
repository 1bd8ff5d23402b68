package dashboard

import (
	"io"
	"net/http"
)

// Backuper is what Actions also implements when the appliance can make
// backups (tanjay serve's does); the Settings page's download answers 501
// otherwise. It is apart from Actions so that Actions stays what every
// page needs.
type Backuper interface {
	// Backup captures the state now (the archive holds the state as it
	// was at this call) and returns the archive to stream; withLogs puts
	// logs/ and captures/ in.
	Backup(withLogs bool) (BackupArchive, error)
}

// BackupArchive is one backup ready to stream.
type BackupArchive interface {
	// Name is the file name to offer (tanjay-backup-….tar.gz).
	Name() string
	io.WriterTo
	io.Closer
}

// downloadBackup is POST /settings/backup (admin, CSRF): the same archive
// as tanjay backup and GET /api/v1/backup, as a download. Form field
// "logs" ("on" or absent) puts the logs in. A failure once the archive
// has started cuts the connection, so the browser reports a failed
// download rather than saving a short archive.
func (d *Dashboard) downloadBackup(w http.ResponseWriter, r *http.Request, _ session) {
	b, ok := d.act.(Backuper)
	if !ok {
		http.Error(w, "this appliance cannot make backups", http.StatusNotImplemented)
		return
	}
	archive, err := b.Backup(r.PostFormValue("logs") == "on")
	if err != nil {
		d.cfg.Logger.Error("dashboard backup", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer archive.Close()
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+archive.Name()+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := archive.WriteTo(w); err != nil {
		d.cfg.Logger.Error("dashboard backup", "err", err)
		panic(http.ErrAbortHandler) // net/http's way to cut the response
	}
}

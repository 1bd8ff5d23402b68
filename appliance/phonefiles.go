package appliance

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/tanjay-lab/tanjay/r2"
)

// PhoneFilesConfig bounds what anonymous phones make the appliance keep:
// log uploads (<Data>/logs/client) and check-in captures (<Data>/captures),
// per phone and in total, and the free space of the data directory below
// which both stop, before operator data (journal, firmware) is at risk.
type PhoneFilesConfig struct {
	// Uploads caps logs/client/ (--upload-phone-files, --upload-phone-mib,
	// --upload-total-files, --upload-total-mib); uploads past a cap get
	// 507. Default r2.DefaultUploadCaps: 64 files and 64 MiB per phone,
	// 4096 files and 1 GiB in all.
	Uploads r2.Caps
	// Captures caps captures/ (--capture-phone-files, --capture-phone-mib,
	// --capture-total-files, --capture-total-mib); the oldest are dropped.
	// Default r2.DefaultCaptureCaps: 100 files and 8 MiB per client
	// address, 10,000 files and 256 MiB in all.
	Captures r2.Caps
	// DiskFloorPercent and DiskFloorMiB are the free-space floor, the
	// larger of the two (--disk-floor-percent, --disk-floor-mib). Default
	// 5% and 256 MiB (r2.DefaultDiskFloorPercent, r2.DefaultDiskFloorBytes).
	DiskFloorPercent int
	DiskFloorMiB     int64
}

func defaultPhoneFiles() PhoneFilesConfig {
	return PhoneFilesConfig{
		Uploads: r2.DefaultUploadCaps(), Captures: r2.DefaultCaptureCaps(),
		DiskFloorPercent: r2.DefaultDiskFloorPercent, DiskFloorMiB: r2.DefaultDiskFloorBytes >> 20,
	}
}

// validate names the flag of a cap or floor out of range.
func (c PhoneFilesConfig) validate() error {
	for _, v := range []struct {
		flag string
		n    int
	}{
		{"--upload-phone-files", c.Uploads.PhoneFiles}, {"--upload-total-files", c.Uploads.TotalFiles},
		{"--capture-phone-files", c.Captures.PhoneFiles}, {"--capture-total-files", c.Captures.TotalFiles},
	} {
		if v.n < 1 {
			return fmt.Errorf("%s: want at least 1 file, got %d", v.flag, v.n)
		}
	}
	for _, v := range []struct {
		flag string
		n    int64
	}{
		{"--upload-phone-mib", c.Uploads.PhoneBytes}, {"--upload-total-mib", c.Uploads.TotalBytes},
		{"--capture-phone-mib", c.Captures.PhoneBytes}, {"--capture-total-mib", c.Captures.TotalBytes},
	} {
		if v.n < 1<<20 {
			return fmt.Errorf("%s: want at least 1 MiB, got %d bytes", v.flag, v.n)
		}
	}
	if c.DiskFloorPercent < 0 || c.DiskFloorPercent > 50 {
		return fmt.Errorf("--disk-floor-percent: want 0 to 50, got %d", c.DiskFloorPercent)
	}
	if c.DiskFloorMiB < 0 {
		return fmt.Errorf("--disk-floor-mib: want 0 or more, got %d", c.DiskFloorMiB)
	}
	return nil
}

// phoneFilesFlags registers the caps and the floor.
func phoneFilesFlags(fs *flag.FlagSet, c *PhoneFilesConfig) {
	for _, k := range []struct {
		name, what string
		caps       *r2.Caps
	}{{"upload", "log uploads (logs/client/); more is refused with 507", &c.Uploads}, {"capture", "check-in captures (captures/); the oldest are dropped", &c.Captures}} {
		fs.IntVar(&k.caps.PhoneFiles, k.name+"-phone-files", k.caps.PhoneFiles, "files kept per phone: "+k.what)
		fs.Var((*mibFlag)(&k.caps.PhoneBytes), k.name+"-phone-mib", "MiB kept per phone: "+k.what)
		fs.IntVar(&k.caps.TotalFiles, k.name+"-total-files", k.caps.TotalFiles, "files kept in all: "+k.what)
		fs.Var((*mibFlag)(&k.caps.TotalBytes), k.name+"-total-mib", "MiB kept in all: "+k.what)
	}
	fs.IntVar(&c.DiskFloorPercent, "disk-floor-percent", c.DiskFloorPercent, "phone uploads and captures stop while the data directory's free space is below this share of its filesystem, or --disk-floor-mib if larger")
	fs.Int64Var(&c.DiskFloorMiB, "disk-floor-mib", c.DiskFloorMiB, "phone uploads and captures stop while the data directory's free space is below this many MiB, or --disk-floor-percent if larger")
}

// mibFlag is a byte count given in MiB.
type mibFlag int64

func (m *mibFlag) String() string {
	if m == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*m)>>20, 10)
}

func (m *mibFlag) Set(v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > 1<<40 {
		return fmt.Errorf("want a whole number of MiB from 1 to %d", int64(1)<<40)
	}
	*m = mibFlag(n << 20)
	return nil
}

// phoneFiles are the caps and the floor in force, shared by the phone
// handler and /metrics.
type phoneFiles struct {
	uploads, captures *r2.Quota
	disk              *r2.DiskFloor
}

// openPhoneFiles counts what logs/client/ and captures/ already hold, so
// the caps hold across restarts.
func openPhoneFiles(cfg Config, log *slog.Logger) (phoneFiles, error) {
	var p phoneFiles
	var err error
	if p.uploads, err = r2.OpenUploadQuota(cfg.clientDir(), cfg.PhoneFiles.Uploads); err != nil {
		return p, err
	}
	if p.captures, err = r2.OpenCaptureQuota(cfg.captureDir(), cfg.PhoneFiles.Captures); err != nil {
		return p, err
	}
	p.disk = r2.NewDiskFloor(r2.DiskFloorConfig{
		Dir: cfg.Data, Percent: cfg.PhoneFiles.DiskFloorPercent, Bytes: cfg.PhoneFiles.DiskFloorMiB << 20, Logger: log,
	})
	return p, nil
}

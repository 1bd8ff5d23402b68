package directory

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// The containers a phone searches for the root CA (SIGNIN.md §2.3), below
// the configuration naming context. Provisioning creates both.
const (
	caContainer         = "CN=Certification Authorities,CN=Public Key Services,CN=Services,CN=Configuration"
	enrollmentContainer = "CN=Enrollment Services,CN=Public Key Services,CN=Services,CN=Configuration"
)

// caObjects are the two objects that publish the CA, as LDIF changes:
//
//   - a certificationAuthority (what `certutil -dspublish ca.cer RootCA`
//     makes on Windows): cACertificate, and the two revocation lists the
//     class requires, each one zero byte (Samba takes it; nothing reads
//     them);
//   - a pKIEnrollmentService, what an enterprise CA publishes: a phone that
//     finds no certificationAuthority fetches
//     http://<dNSHostName>/certsrv/certnew.p7b, which the appliance serves.
//
// Both are named after the CA's common name, as certutil names them; exists
// says which of them are there already (replaced in place) and which are
// added.
func caObjects(cfg Config, exists func(dn string) bool) (ldif []byte, err error) {
	ca, err := x509.ParseCertificate(cfg.CADER)
	if err != nil {
		return nil, fmt.Errorf("directory: the appliance CA: %w", err)
	}
	cn := ca.Subject.CommonName
	if cn == "" {
		cn = "Tanjay CA"
	}
	cn = escapeRDN(cn)
	der := base64.StdEncoding.EncodeToString(cfg.CADER)
	zero := base64.StdEncoding.EncodeToString([]byte{0})
	objects := []struct {
		dn    string
		class string
		attrs [][2]string
	}{
		{"CN=" + cn + "," + caContainer + "," + cfg.BaseDN(), "certificationAuthority", [][2]string{
			{"cACertificate:", der}, {"authorityRevocationList:", zero}, {"certificateRevocationList:", zero},
		}},
		{"CN=" + cn + "," + enrollmentContainer + "," + cfg.BaseDN(), "pKIEnrollmentService", [][2]string{
			{"cACertificate:", der}, {"dNSHostName", cfg.DNSHostName}, {"cACertificateDN", ca.Subject.String()},
		}},
	}
	var b bytes.Buffer
	for _, o := range objects {
		fmt.Fprintf(&b, "dn: %s\n", o.dn)
		if exists(o.dn) {
			b.WriteString("changetype: modify\n")
			for _, a := range o.attrs {
				name := strings.TrimSuffix(a[0], ":")
				fmt.Fprintf(&b, "replace: %s\n%s: %s\n-\n", name, a[0], a[1])
			}
		} else {
			fmt.Fprintf(&b, "changetype: add\nobjectClass: %s\n", o.class)
			for _, a := range o.attrs {
				fmt.Fprintf(&b, "%s: %s\n", a[0], a[1])
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}

// escapeRDN escapes the characters RFC 4514 reserves in an attribute value.
func escapeRDN(s string) string {
	var b strings.Builder
	for i, r := range s {
		if strings.ContainsRune(`,+"\<>;=`, r) || (i == 0 && (r == '#' || r == ' ')) || (i == len(s)-1 && r == ' ') {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// publishCA writes the CA objects into sam.ldb directly (root, ldb-tools),
// so it works whether or not Samba runs.
func publishCA(ctx context.Context, cfg Config) error {
	ldif, err := caObjects(cfg, func(dn string) bool { return ldbExists(ctx, cfg, dn) })
	if err != nil {
		return err
	}
	if _, err := run(ctx, ldif, nil, cfg.program("ldbmodify"), "-H", cfg.samLDB()); err != nil {
		return fmt.Errorf("directory: publishing the CA: %w", err)
	}
	return nil
}

// ldbExists reports whether the object dn exists in sam.ldb.
func ldbExists(ctx context.Context, cfg Config, dn string) bool {
	out, err := run(ctx, nil, nil, cfg.program("ldbsearch"), "-H", cfg.samLDB(), "-s", "base", "-b", dn, "dn")
	return err == nil && bytes.Contains(out, []byte("# returned 1 records"))
}

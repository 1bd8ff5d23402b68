// Package directory is the lab's domain controller: Samba as an Active
// Directory DC, provisioned, supervised and fed by the appliance.
//
// Before a Tanjay sends its first SIP message it walks "Locating Domain
// Controller" → "Downloading Certificate" → "Installing Certificate"
// (SIGNIN.md §1.2, §2.3): it locates a DC (DNS SRV records and the CLDAP
// netlogon ping), reads the root CA from the directory (certificationAuthority
// objects' cACertificate, else a pKIEnrollmentService's dNSHostName whose
// /certsrv/certnew.p7b it fetches) and only then trusts the SIP server's
// certificate. How the phone speaks to a DC is not published well enough to
// imitate, so the appliance runs a real one and does not reimplement any of
// it. This package:
//
//   - provisions the domain with samba-tool into <data>/directory/, with
//     Samba's own DNS off (the appliance's responder answers for the realm),
//     plain-LDAP simple binds allowed (old clients) and no file shares but
//     the two a DC cannot do without (sysvol, netlogon);
//   - creates the lab account with the lab sign-in password, set never to
//     expire, and keeps it in step (SetPassword);
//   - publishes the appliance CA where phones look;
//   - registers the DC's service principal names (samba_spnupdate), which
//     Samba's dnsupdate service, off here, would: Kerberos service tickets
//     for ldap/<dc> and HTTP/<dc>;
//   - lists the DC locator records as Samba itself would register them
//     (samba_dnsupdate --all-names into a file), for the DNS responder;
//   - supervises `samba -i` as a child in a PID namespace of its own
//     (Supervisor), so that no Samba process outlives the appliance.
//   - turns on Samba's JSON authentication audit into one file
//     (AuditLogPath) and follows it (FollowAudit, ParseAuditLine): the
//     LDAP binds, Kerberos AS requests and NTLM authentications of each
//     client address, for the phones' timelines. Samba 4.17 logs no CLDAP
//     netlogon ping, no LDAP search and no Kerberos service-ticket request.
//
// Everything here needs root and Debian's samba, winbind and ldb-tools.
package directory

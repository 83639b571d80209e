using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using UnifiedLlm.Daemon.Doctor;

namespace UnifiedLlm.Tests.Doctor;

/// <summary>The certificate check's boundaries, with certificates made by .NET's own CertificateRequest and a chosen "now".</summary>
public sealed class CertificateAuditTests
{
    private static readonly DateTimeOffset NotBefore = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset NotAfter = new(2030, 6, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Each_date_range_gets_its_severity()
    {
        var (pem, _) = Make("CN=dates");
        const string Span = "CN=dates, valid 2030-01-01 00:00:00Z to 2030-06-01 00:00:00Z";
        Assert.Equal((Severity.Error, "not valid yet: " + Span), Judge(pem, NotBefore.AddSeconds(-1)));
        Assert.Equal((Severity.Ok, Span), Judge(pem, NotBefore));
        Assert.Equal((Severity.Ok, Span), Judge(pem, NotAfter - CertificateAudit.ExpiryWarning));
        Assert.Equal((Severity.Warning, "expires in 29.5 days: " + Span), Judge(pem, NotAfter - TimeSpan.FromDays(29.5)));
        Assert.Equal((Severity.Error, "expired: " + Span), Judge(pem, NotAfter));
    }

    [Fact]
    public void A_key_must_be_the_certificates_own_and_text_must_be_a_certificate()
    {
        var (pem, key) = Make("CN=one");
        var (_, otherKey) = Make("CN=two");
        Assert.Equal(Severity.Ok, Assert.Single(CertificateAudit.Check("c", pem, "k", key, NotBefore), f => f.Check == "tls.key").Severity);
        var mismatch = Assert.Single(CertificateAudit.Check("c", pem, "k", otherKey, NotBefore), f => f.Check == "tls.key");
        Assert.Equal(Severity.Error, mismatch.Severity);
        Assert.Contains("does not match c", mismatch.Message);

        var garbage = Assert.Single(CertificateAudit.Check("g", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", null, null, NotBefore));
        Assert.Equal((Severity.Error, "tls.certificate"), (garbage.Severity, garbage.Check));
        Assert.StartsWith("not a PEM certificate", garbage.Message);
    }

    private static (Severity, string) Judge(string pem, DateTimeOffset now)
    {
        var finding = Assert.Single(CertificateAudit.Check("c", pem, null, null, now));
        Assert.Equal("tls.certificate", finding.Check);
        return (finding.Severity, finding.Message);
    }

    private static (string Certificate, string Key) Make(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest(subject, key, HashAlgorithmName.SHA256).CreateSelfSigned(NotBefore, NotAfter);
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }
}

using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace UnifiedLlm.Daemon.Doctor;

/// <summary>
/// Checks a PEM certificate: it parses, is valid now, does not expire within <see cref="ExpiryWarning"/>, and (when a
/// key is given) the key is the certificate's. Only for certificates handed to it: <c>ullmctl doctor --cert</c>.
/// </summary>
internal static class CertificateAudit
{
    public static readonly TimeSpan ExpiryWarning = TimeSpan.FromDays(30);

    public static List<Finding> Check(string name, string certificatePem, string? keyName, string? keyPem, DateTimeOffset now)
    {
        const string Check = "tls.certificate";
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem);
        }
        catch (CryptographicException e)
        {
            return [new(Severity.Error, Check, name, $"not a PEM certificate: {e.Message}", "pass the certificate file (-----BEGIN CERTIFICATE-----)")];
        }

        var findings = new List<Finding>();
        using (certificate)
        {
            var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
            var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
            var span = $"{certificate.Subject}, valid {notBefore:yyyy-MM-dd HH:mm:ss}Z to {notAfter:yyyy-MM-dd HH:mm:ss}Z";
            if (now < notBefore)
            {
                findings.Add(new(Severity.Error, Check, name, $"not valid yet: {span}", "check the host's clock, or issue a certificate valid now"));
            }
            else if (now >= notAfter)
            {
                findings.Add(new(Severity.Error, Check, name, $"expired: {span}", "renew the certificate"));
            }
            else if (notAfter - now < ExpiryWarning)
            {
                findings.Add(new(Severity.Warning, Check, name, $"expires in {(notAfter - now).TotalDays:0.#} days: {span}", "renew the certificate before it expires"));
            }
            else
            {
                findings.Add(new(Severity.Ok, Check, name, span));
            }

            if (keyPem is not null)
            {
                findings.Add(KeyFinding(certificatePem, keyName ?? "key", keyPem, name));
            }
        }

        return findings;
    }

    private static Finding KeyFinding(string certificatePem, string keyName, string keyPem, string certificateName)
    {
        const string Check = "tls.key";
        try
        {
            using var withKey = X509Certificate2.CreateFromPem(certificatePem, keyPem);
            return new(Severity.Ok, Check, keyName, $"the private key matches {certificateName}");
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            return new(Severity.Error, Check, keyName, $"the private key does not match {certificateName} or cannot be read: {e.Message}",
                "pass the key the certificate was issued for (PEM, unencrypted)");
        }
    }
}

using UnifiedLlm.Admin.V1;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>The --cert/--key pairing ullmctl doctor and ullmd --doctor share, on real files.</summary>
public sealed class DoctorCertificatesTests
{
    [Fact]
    public async Task Each_key_goes_with_the_certificate_at_its_position_and_more_keys_than_certificates_are_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDirectory("ullm-doctor-certs");
        var (a, b, keyA) = (dir.Write("a.pem", "A"), dir.Write("b.pem", "B"), dir.Write("a.key", "KEY A"));

        var read = await DoctorCertificates.ReadAsync([a, b], [keyA], ct);
        Assert.Equal([(a, "A", keyA, "KEY A"), (b, "B", "", "")], read.Select(c => (c.Name, c.CertificatePem, c.KeyName, c.KeyPem)));

        var tooMany = await Assert.ThrowsAsync<ArgumentException>(() => DoctorCertificates.ReadAsync([a], [keyA, keyA], ct));
        Assert.Equal("2 --key for 1 --cert: each --key belongs to the --cert at its position", tooMany.Message);
        var missing = await Assert.ThrowsAsync<FileNotFoundException>(() => DoctorCertificates.ReadAsync([dir.File("gone.pem")], [], ct));
        Assert.Contains("gone.pem", missing.Message, StringComparison.Ordinal);
    }
}

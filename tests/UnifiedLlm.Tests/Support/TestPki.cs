using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace UnifiedLlm.Tests.Support;

/// <summary>
/// A throwaway certificate authority made with the real openssl command line: a CA, server certificates for 127.0.0.1
/// (subjectAltName IP), and client certificates, each as PEM files in the test's directory.
/// </summary>
public sealed class TestPki
{
    private readonly TempDirectory dir;

    private TestPki(TempDirectory dir, string name)
    {
        this.dir = dir;
        CaCertificate = dir.File($"pki/{name}.pem");
        CaKey = dir.File($"pki/{name}.key");
    }

    public string CaCertificate { get; }

    public string CaKey { get; }

    public static async Task<TestPki> CreateAsync(TempDirectory dir, string name = "ca")
    {
        Directory.CreateDirectory(dir.File("pki"));
        var pki = new TestPki(dir, name);
        await OpensslAsync("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", pki.CaKey, "-out", pki.CaCertificate,
            "-days", "2", "-subj", $"/CN=ullm test {name}", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        return pki;
    }

    /// <summary>A server certificate with this CN for IP 127.0.0.1; returns its certificate and key files.</summary>
    public Task<(string Certificate, string Key)> IssueServerAsync(string commonName) =>
        IssueAsync(commonName, "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");

    /// <summary>A client certificate with this CN; returns its certificate and key files.</summary>
    public Task<(string Certificate, string Key)> IssueClientAsync(string commonName) =>
        IssueAsync(commonName, "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n");

    /// <summary>Whether this CA issued the certificate (the CA as the only trust anchor), as a client that trusts only it checks.</summary>
    public bool Issued(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(X509CertificateLoader.LoadCertificateFromFile(CaCertificate));
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    /// <summary>
    /// An HttpClient that trusts only this CA (and checks the name: 127.0.0.1 must be in the certificate), offers the
    /// client certificate if given, and records the server certificate of its connection.
    /// </summary>
    public HttpClient Client(Uri baseAddress, Action<X509Certificate2>? seen = null, (string Certificate, string Key)? clientCertificate = null)
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
            {
                return false;
            }

            using var copy = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            seen?.Invoke(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
            return Issued(copy);
        };
        if (clientCertificate is { } pair)
        {
            handler.SslOptions.ClientCertificates = [LoadWithKey(pair.Certificate, pair.Key)];
        }

        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public static X509Certificate2 LoadWithKey(string certificate, string key)
    {
        using var ephemeral = X509Certificate2.CreateFromPemFile(certificate, key);
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
    }

    public static string Thumbprint(string certificateFile)
    {
        using var certificate = X509CertificateLoader.LoadCertificateFromFile(certificateFile);
        return certificate.GetCertHashString(HashAlgorithmName.SHA256);
    }

    /// <summary>
    /// A loopback port free a moment ago, for a process the test starts to listen on. Drawn below the kernel's ephemeral
    /// range (32768–60999 here), where the kernel hands out no port by itself: a port taken there and released could be
    /// given to another test's listener or outgoing connection before the process binds it.
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            var port = Random.Shared.Next(20000, 32768);
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
            }
        }
    }

    private async Task<(string Certificate, string Key)> IssueAsync(string commonName, string extensions)
    {
        var name = $"pki/{commonName}-{Guid.NewGuid():N}";
        var (certificate, key, request) = (dir.File(name + ".pem"), dir.File(name + ".key"), dir.File(name + ".csr"));
        var extensionFile = dir.Write(name + ".ext", extensions);
        await OpensslAsync("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", request, "-subj", $"/CN={commonName}");
        await OpensslAsync("x509", "-req", "-in", request, "-CA", CaCertificate, "-CAkey", CaKey, "-CAcreateserial", "-out", certificate, "-days", "2", "-extfile", extensionFile);
        return (certificate, key);
    }

    private static async Task OpensslAsync(params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync("openssl", arguments);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl {string.Join(' ', arguments)} failed: {result}");
        }
    }
}

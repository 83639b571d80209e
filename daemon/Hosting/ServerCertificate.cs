using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Providers;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>A TLS certificate, key or client CA that cannot be read; ullmd does not start with it.</summary>
internal sealed class TlsCertificateException(string message) : IOException(message);

/// <summary>
/// The TCP listener's certificate (and the client CA for mutual TLS), as the files hold them now: Kestrel asks
/// <see cref="Current"/> at each handshake, <see cref="Reload"/> re-reads the files (a config reload calls it), and a
/// handshake that finds a file changed on disk (checked at most once a second) re-reads them too. A reload that fails
/// keeps the previous certificate and says why in the log.
/// </summary>
internal sealed class ServerCertificate
{
    private static readonly long CheckIntervalMs = 1000;
    private readonly TlsConfig config;
    private readonly Serilog.ILogger logger;
    private readonly Lock reloadGate = new();
    private volatile Loaded current;
    private long nextCheckMs;

    private ServerCertificate(TlsConfig config, Serilog.ILogger logger, Loaded loaded)
    {
        this.config = config;
        this.logger = logger;
        current = loaded;
        nextCheckMs = Environment.TickCount64 + CheckIntervalMs;
    }

    /// <summary>The certificate to serve now; a handshake at least a second after the last check re-reads changed files first.</summary>
    public X509Certificate2 Current
    {
        get
        {
            var now = Environment.TickCount64;
            if (now >= Volatile.Read(ref nextCheckMs))
            {
                Volatile.Write(ref nextCheckMs, now + CheckIntervalMs);
                if (current.Stamp != Stamp(config))
                {
                    Reload();
                }
            }

            return current.Certificate;
        }
    }

    /// <summary>Whether client certificates are required (tls_client_ca is set).</summary>
    public bool RequiresClientCertificate => config.ClientCa is not null;

    /// <summary>Reads the certificate, key and client CA the config names; throws <see cref="TlsCertificateException"/> saying which and why.</summary>
    public static ServerCertificate Load(TlsConfig config, Serilog.ILogger logger) => new(config, logger, Read(config));

    /// <summary>Re-reads the files; true when the new certificate is in force, false (logged) when the old one stays.</summary>
    public bool Reload()
    {
        lock (reloadGate)
        {
            try
            {
                var next = Read(config);
                current = next;
                logger.Information("TLS certificate loaded: {Subject}, valid until {NotAfter:u}, SHA-256 {Thumbprint}",
                    next.Certificate.Subject, next.Certificate.NotAfter.ToUniversalTime(), next.Certificate.GetCertHashString(HashAlgorithmName.SHA256));
                return true;
            }
            catch (TlsCertificateException e)
            {
                // Do not try again at every handshake: only when the files change once more.
                current = current with { Stamp = Stamp(config) };
                logger.Error("TLS certificate reload failed, the previous certificate stays in use: {Message}", e.Message);
                return false;
            }
        }
    }

    /// <summary>Whether a client's certificate chains to the configured client CA (checked with that CA as the only trust anchor).</summary>
    public bool IsTrustedClient(X509Certificate2 certificate)
    {
        var authorities = current.ClientAuthorities;
        if (authorities is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2")); // clientAuth, where the certificate restricts its use
        return chain.Build(certificate);
    }

    private static Loaded Read(TlsConfig config)
    {
        var certificatePath = PathOf(config.Certificate, "certificate");
        var keyPath = PathOf(config.Key, "key");
        X509Certificate2 certificate;
        try
        {
            using var ephemeral = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            // Through PKCS#12, so the private key is a persisted one, as SslStream wants on every platform.
            certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new TlsCertificateException($"cannot load the TLS certificate {certificatePath} with the key {keyPath}: {e.Message}");
        }

        X509Certificate2Collection? authorities = null;
        if (config.ClientCa is { } caPath)
        {
            authorities = [];
            try
            {
                authorities.ImportFromPemFile(caPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                throw new TlsCertificateException($"cannot read server.tls_client_ca {caPath}: {e.Message}");
            }

            if (authorities.Count == 0)
            {
                throw new TlsCertificateException($"server.tls_client_ca {caPath} holds no PEM certificate");
            }
        }

        return new Loaded(certificate, authorities, Stamp(config));
    }

    private static string PathOf(ApiKeySource source, string what) => ApiKeyReader.FilePath(source)
        ?? throw new TlsCertificateException($"the TLS {what} is the systemd credential '{source.Value}', but $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit)");

    /// <summary>What identifies the files' contents cheaply: each file's size and last write time.</summary>
    private static string Stamp(TlsConfig config)
    {
        static string Of(string? path)
        {
            if (path is null)
            {
                return "-";
            }

            var info = new FileInfo(path);
            return info.Exists ? $"{info.Length}@{info.LastWriteTimeUtc.Ticks}" : "missing";
        }

        return string.Join('|', Of(ApiKeyReader.FilePath(config.Certificate)), Of(ApiKeyReader.FilePath(config.Key)), Of(config.ClientCa));
    }

    private sealed record Loaded(X509Certificate2 Certificate, X509Certificate2Collection? ClientAuthorities, string Stamp);
}

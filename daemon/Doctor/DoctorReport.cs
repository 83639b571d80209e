using UnifiedLlm.Admin.V1;
using UnifiedLlm.Daemon.Config;
using Proto = UnifiedLlm.Admin.V1;

namespace UnifiedLlm.Daemon.Doctor;

/// <summary>A certificate to judge, and the key paired with it, as text (read by whoever was asked to name the files).</summary>
internal sealed record CertificateInput(string Name, string CertificatePem, string KeyName, string? KeyPem);

/// <summary>
/// Puts one doctor report together, the same inside a running ullmd (the Doctor RPC) and without one
/// (<c>ullmd --doctor</c>): the config as loaded or its errors, the host audit on the facts each side knows, then the
/// certificates.
/// </summary>
internal static class DoctorReport
{
    /// <param name="load">Loads the config to audit; a <see cref="ConfigException"/> becomes the config.load finding.</param>
    /// <param name="facts">What is known about the daemon for the config that loaded.</param>
    public static async Task<DoctorResponse> BuildAsync(
        string path,
        Func<CancellationToken, Task<UllmConfig>> load,
        Func<UllmConfig, CancellationToken, Task<DaemonFacts>> facts,
        IEnumerable<CertificateInput> certificates,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var response = new DoctorResponse { ConfigPath = path };
        var findings = new List<Finding>();
        UllmConfig? config = null;
        try
        {
            config = await load(cancellationToken);
            response.ConfigPath = config.SourcePath;
        }
        catch (ConfigException e)
        {
            response.ConfigErrors.AddRange((IEnumerable<UnifiedLlm.Admin.V1.ConfigError>)e.Errors.Select(ToProto));
            findings.Add(new(Severity.Error, "config.load", path, $"{e.Errors.Count} error(s); the first: {e.Errors[0]}",
                "correct the config (every error is in configErrors; ullmd --config FILE --check lists them)"));
        }

        if (config is not null)
        {
            findings.AddRange(await HostAudit.RunAsync(config, await facts(config, cancellationToken), cancellationToken));
        }

        foreach (var certificate in certificates)
        {
            findings.AddRange(CertificateAudit.Check(certificate.Name, certificate.CertificatePem, certificate.KeyName, certificate.KeyPem, now));
        }

        response.Findings.AddRange(findings.Select(f => new Proto.Finding { Severity = f.SeverityName, Check = f.Check, Subject = f.Subject, Message = f.Message, Fix = f.Fix }));
        return response;
    }

    public static Proto.ConfigError ToProto(Config.ConfigError e) => new()
    {
        File = e.File,
        Line = (uint)Math.Max(0, e.Line),
        Column = (uint)Math.Max(0, e.Column),
        KeyPath = e.KeyPath,
        Message = e.Message,
    };
}

using System.CommandLine;
using Google.Protobuf;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Doctor;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// <c>ullmd --doctor</c>: the host audit of <c>ullmctl doctor</c> without a running ullmd, for when it will not start.
/// The same loader, checks and report (<see cref="DoctorReport"/>) on the facts ullmd would find at start
/// (<see cref="OfflineFacts"/>); exit 0, 7 for warnings, 1 for an error, as ullmctl's.
/// </summary>
internal static class DoctorCommandLine
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithIndentation());

    public sealed record DoctorOptions(Option<bool> Doctor, Option<bool> Json, Option<string[]> Certificates, Option<string[]> Keys);

    public static DoctorOptions Options() => new(
        new Option<bool>("--doctor") { Description = "Audit the host and the config without a running ullmd (what ullmctl doctor falls back to), print the findings, and exit (0, 7 warnings, 1 error)" },
        new Option<bool>("--json") { Description = "With --doctor: print the findings as the admin API's DoctorResponse JSON" },
        new Option<string[]>("--cert") { Description = "With --doctor: a PEM certificate to check (validity, expiry within 30 days); repeatable" },
        new Option<string[]>("--key") { Description = "With --doctor: the PEM private key of the --cert at the same position; checks that it matches" });

    public static async Task<int> RunAsync(string configPath, DoctorOptions options, ParseResult parse, CancellationToken cancellationToken)
    {
        IReadOnlyList<DoctorCertificate> read;
        try
        {
            read = await DoctorCertificates.ReadAsync(parse.GetValue(options.Certificates) ?? [], parse.GetValue(options.Keys) ?? [], cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            await Console.Error.WriteLineAsync($"ullmd: {e.Message}");
            return DaemonCommandLine.ExitConfigInvalid;
        }

        var inputs = read.Select(c => new CertificateInput(c.Name, c.CertificatePem, c.KeyName, c.KeyName.Length > 0 ? c.KeyPem : null)).ToList();
        var time = TimeProvider.System;
        var report = await DoctorReport.BuildAsync(
            configPath,
            token => ConfigLoader.LoadFileAsync(configPath, token),
            (config, token) => OfflineFacts.GatherAsync(config, time, token),
            inputs,
            time.GetUtcNow(),
            cancellationToken);
        await Console.Out.WriteAsync(parse.GetValue(options.Json) ? Json.Format(report) + "\n" : report.Render());
        return report.ExitCode;
    }
}

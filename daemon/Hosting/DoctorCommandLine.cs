using System.CommandLine;
using Google.Protobuf;
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
        var certificates = parse.GetValue(options.Certificates) ?? [];
        var keys = parse.GetValue(options.Keys) ?? [];
        if (keys.Length > certificates.Length)
        {
            await Console.Error.WriteLineAsync($"ullmd: {keys.Length} --key for {certificates.Length} --cert: each --key belongs to the --cert at its position");
            return DaemonCommandLine.ExitConfigInvalid;
        }

        List<CertificateInput> inputs = [];
        try
        {
            for (var i = 0; i < certificates.Length; i++)
            {
                var key = i < keys.Length ? keys[i] : "";
                inputs.Add(new(certificates[i], await File.ReadAllTextAsync(certificates[i], cancellationToken), key,
                    key.Length > 0 ? await File.ReadAllTextAsync(key, cancellationToken) : null));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"ullmd: {e.Message}");
            return DaemonCommandLine.ExitConfigInvalid;
        }

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

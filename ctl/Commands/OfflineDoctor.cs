using System.Diagnostics;
using Google.Protobuf;
using UnifiedLlm.Admin.V1;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>
/// The doctor when ullmd cannot be reached: runs <c>ullmd --doctor --json</c> (found beside ullmctl's own executable,
/// else on PATH) as the caller, and puts the unreachable daemon first among its findings, naming the program that ran.
/// </summary>
internal static class OfflineDoctor
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(1);

    public static async Task<DoctorResponse> RunAsync(string socket, string unreachable, string? configPath, IReadOnlyList<string> certificates, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        const string Fix = "start ullmd (systemctl start unified-llm), or pass its admin socket with --socket; if it does not start, the findings below and journalctl -u unified-llm say why";
        if (Find() is not { } ullmd)
        {
            var missing = new DoctorResponse();
            missing.Findings.Add(Reachable(socket, $"{unreachable}; no other check ran: ullmd --doctor would run them without the daemon, but no ullmd was found beside ullmctl ({AppContext.BaseDirectory}) or on PATH", Fix));
            return missing;
        }

        var start = new ProcessStartInfo(ullmd) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in Arguments(configPath, certificates, keys))
        {
            start.ArgumentList.Add(argument);
        }

        var ran = $"{ullmd} {string.Join(' ', start.ArgumentList)}";
        DoctorResponse response;
        try
        {
            var (exit, output, error) = await RunAsync(start, cancellationToken);
            response = exit is 0 or DoctorResponse.WarningsExitCode or DoctorResponse.ErrorsExitCode
                ? JsonParser.Default.Parse<DoctorResponse>(output)
                : throw new InvalidDataException($"it exited {exit}: {error.Trim()}");
        }
        catch (Exception e) when (e is InvalidDataException or InvalidProtocolBufferException or InvalidJsonException or System.ComponentModel.Win32Exception)
        {
            response = new DoctorResponse();
            response.Findings.Add(new Finding { Severity = "error", Check = "doctor.offline", Subject = ullmd, Message = $"{ran} gave no report: {e.Message}", Fix = "run it yourself to see its output" });
        }

        response.Findings.Insert(0, Reachable(socket, $"{unreachable}; the other findings are ullmd's own checks, run without the daemon: {ran}", Fix));
        return response;
    }

    private static Finding Reachable(string socket, string message, string fix) =>
        new() { Severity = "error", Check = "daemon.reachable", Subject = socket, Message = message, Fix = fix };

    private static List<string> Arguments(string? configPath, IReadOnlyList<string> certificates, IReadOnlyList<string> keys)
    {
        List<string> arguments = ["--doctor", "--json"];
        if (configPath is { Length: > 0 })
        {
            arguments.AddRange(["--config", Path.GetFullPath(configPath)]);
        }

        for (var i = 0; i < certificates.Count; i++)
        {
            arguments.AddRange(["--cert", Path.GetFullPath(certificates[i])]);
            if (i < keys.Count)
            {
                arguments.AddRange(["--key", Path.GetFullPath(keys[i])]);
            }
        }

        return arguments;
    }

    /// <summary>ullmd beside this ullmctl (as packaged), else the first executable ullmd on PATH.</summary>
    private static string? Find()
    {
        var beside = Path.Combine(AppContext.BaseDirectory, "ullmd");
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return new[] { beside }.Concat(path.Split(':', StringSplitOptions.RemoveEmptyEntries).Select(dir => Path.Combine(dir, "ullmd"))).FirstOrDefault(IsExecutable);
    }

    private static bool IsExecutable(string path) =>
        File.Exists(path) && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    private static async Task<(int Exit, string Output, string Error)> RunAsync(ProcessStartInfo start, CancellationToken cancellationToken)
    {
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {start.FileName}");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await output, await error);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            return (-1, "", $"no answer within {Timeout.TotalSeconds} s");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}

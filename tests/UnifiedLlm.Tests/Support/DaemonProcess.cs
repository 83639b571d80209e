using System.Diagnostics;
using System.Text;

namespace UnifiedLlm.Tests.Support;

/// <summary>
/// A real ullmd process on temporary sockets, started from the built ullmd (the native one tests/run.sh publishes, else
/// ullmd.dll) with a config the test writes. Ready means it sent READY=1 on a real notify socket, as systemd would see it.
/// </summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();
    private int disposed;

    private DaemonProcess(Process process, NotifySocket notify, DaemonPaths paths)
    {
        this.process = process;
        Notify = notify;
        Paths = paths;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public NotifySocket Notify { get; }

    public DaemonPaths Paths { get; }

    public int Pid => process.Id;

    public bool HasExited => process.HasExited;

    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    /// <summary>A config with every path inside <paramref name="dir"/>; <paramref name="extra"/> is appended verbatim.</summary>
    public static DaemonPaths WriteConfig(TempDirectory dir, string extra = "", string serverExtra = "", string tcpListen = "")
    {
        var paths = new DaemonPaths(dir.File("config.toml"), dir.File("run/openai.sock"), dir.File("run/admin.sock"), dir.File("data"));
        dir.Write("config.toml", $"""
            [server]
            data_dir = "{paths.DataDir}"
            openai_socket = "{paths.OpenAiSocket}"
            admin_socket = "{paths.AdminSocket}"
            tcp_listen = "{tcpListen}"
            {serverExtra}

            {extra}
            """);
        return paths;
    }

    public static async Task<DaemonProcess> StartAsync(TempDirectory dir, DaemonPaths paths, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var notify = new NotifySocket(dir.File("notify.sock"));
        var start = new ProcessStartInfo(RepoPaths.NativeUllmd ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        if (RepoPaths.NativeUllmd is null)
        {
            start.ArgumentList.Add(RepoPaths.Ullmd);
        }

        start.ArgumentList.Add("--config");
        start.ArgumentList.Add(paths.ConfigFile);
        start.Environment["NOTIFY_SOCKET"] = notify.Path;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var daemon = new DaemonProcess(Process.Start(start)!, notify, paths);
        try
        {
            var ready = notify.WaitForAsync("READY=1", TimeSpan.FromSeconds(30));
            var exited = daemon.process.WaitForExitAsync();
            if (await Task.WhenAny(ready, exited) == exited)
            {
                throw new InvalidOperationException($"ullmd exited with {daemon.process.ExitCode} before READY=1:\n{daemon.Output}");
            }

            await ready;
            return daemon;
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    public Task<ProcessResult> CtlAsync(params string[] arguments) =>
        ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, arguments.Prepend(Paths.AdminSocket).Prepend("--socket"));

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
    }

    /// <summary>SIGTERM, then the exit code; SIGKILL if it does not stop within the timeout.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (!process.HasExited)
        {
            Signals.Send(process.Id, Signals.Terminate);
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"ullmd did not stop within {timeout ?? TimeSpan.FromSeconds(30)} of SIGTERM:\n{Output}");
        }

        return process.ExitCode;
    }

    /// <summary>Kills ullmd if it still runs and releases its notify socket; a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
        await Notify.DisposeAsync();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }
}

public sealed record DaemonPaths(string ConfigFile, string OpenAiSocket, string AdminSocket, string DataDir);

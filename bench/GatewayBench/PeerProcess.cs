using System.Diagnostics;
using System.Text.RegularExpressions;

namespace UnifiedLlm.Bench;

/// <summary>A process the bench starts (llama-server, ullmd, nginx, Portkey): its output is kept (the last lines) to say why it failed.</summary>
internal sealed partial class PeerProcess : IAsyncDisposable
{
    private const int KeptLines = 40;

    private readonly Process process;
    private readonly Queue<string> lines = new();

    private PeerProcess(Process process) => this.process = process;

    public bool HasExited => process.HasExited;

    public int Id => process.Id;

    /// <summary>The last lines the process wrote to stdout and stderr.</summary>
    public string OutputTail
    {
        get
        {
            lock (lines)
            {
                return string.Join('\n', lines);
            }
        }
    }

    public static PeerProcess Start(string file, IEnumerable<string> arguments, string? workingDirectory = null, IEnumerable<(string Name, string Value)>? environment = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory ?? "" };
        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var peer = new PeerProcess(Process.Start(start)!);
        peer.process.OutputDataReceived += (_, e) => peer.Keep(e.Data);
        peer.process.ErrorDataReceived += (_, e) => peer.Keep(e.Data);
        peer.process.BeginOutputReadLine();
        peer.process.BeginErrorReadLine();
        return peer;
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        await process.WaitForExitAsync();
        process.Dispose();
    }

    private void Keep(string? line)
    {
        // Stack frames would push the message itself out of the kept lines.
        if (line is null || line.TrimStart().StartsWith("at ", StringComparison.Ordinal))
        {
            return;
        }

        line = AnsiEscape().Replace(line, "");

        lock (lines)
        {
            lines.Enqueue(line);
            if (lines.Count > KeptLines)
            {
                lines.Dequeue();
            }
        }
    }

    [GeneratedRegex(@"\x1b\[[0-9;]*m")]
    private static partial Regex AnsiEscape();
}

using System.Diagnostics;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>A process's output lines as "out LINE" / "err LINE", with a wait for a line starting with a text.</summary>
internal sealed class OutputLines
{
    private readonly List<string> lines = [];

    /// <summary>Starts ullmctl against <paramref name="adminSocket"/> (a command that keeps running, such as <c>logs -f</c> or <c>events</c>) with its output collected.</summary>
    public static (Process Process, OutputLines Output) StartUllmctl(string adminSocket, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { RepoPaths.Ullmctl, "--socket", adminSocket }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var output = new OutputLines();
        process.OutputDataReceived += (_, e) => output.Add("out", e.Data);
        process.ErrorDataReceived += (_, e) => output.Add("err", e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output);
    }

    public void Add(string stream, string? line)
    {
        if (line is not null)
        {
            lock (lines)
            {
                lines.Add($"{stream} {line}");
            }
        }
    }

    public async Task WaitForAsync(string start)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            lock (lines)
            {
                if (lines.Any(l => l.StartsWith(start, StringComparison.Ordinal) || l.Contains(" " + start[4..], StringComparison.Ordinal)))
                {
                    return;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, $"no line '{start}' within 60 s:\n{this}");
            await Task.Delay(100);
        }
    }

    public override string ToString()
    {
        lock (lines)
        {
            return string.Join('\n', lines);
        }
    }
}

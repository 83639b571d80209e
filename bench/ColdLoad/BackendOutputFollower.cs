using System.Text;

namespace UnifiedLlm.Bench.ColdLoad;

/// <summary>
/// Reads a backend's output as llama-server writes it, from the file the process supervisor writes it to
/// (<c>data_dir/backends/UNIT.log</c>), each line stamped when it was read. ullmd's own log stream stamps lines when
/// its tail of that file reads them, up to 50 ms late: too coarse for readiness seen within milliseconds.
/// </summary>
internal sealed class BackendOutputFollower(string backendsDirectory, string model)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(1);
    private readonly HashSet<string> before = Outputs(backendsDirectory, model);

    /// <summary>Lines of the first output file that appears after this follower was made, until llama-server reports the model loaded.</summary>
    public async Task<List<(DateTimeOffset At, string Text)>> UntilLoadedAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var file = await NewOutputAsync(cancellationToken);
        var lines = new List<(DateTimeOffset At, string Text)>();
        await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var pending = new StringBuilder();
        var buffer = new byte[64 * 1024];
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
        while (ReadyLine.Find(lines, since) is null)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                await Task.Delay(PollInterval, cancellationToken);
                continue;
            }

            var at = DateTimeOffset.UtcNow;
            pending.Append(chars, 0, decoder.GetChars(buffer, 0, read, chars, 0));
            var text = pending.ToString();
            var end = text.LastIndexOf('\n');
            if (end < 0)
            {
                continue;
            }

            lines.AddRange(text[..end].Split('\n').Select(line => (at, line.TrimEnd('\r'))));
            pending.Clear().Append(text[(end + 1)..]);
        }

        return lines;
    }

    private async Task<string> NewOutputAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (Outputs(backendsDirectory, model).FirstOrDefault(f => !before.Contains(f)) is { } file)
            {
                return file;
            }

            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    private static HashSet<string> Outputs(string directory, string model) =>
        Directory.Exists(directory) ? [.. Directory.EnumerateFiles(directory, $"ullm-{model}-*.log")] : [];
}

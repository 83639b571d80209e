namespace UnifiedLlm.Tests.Ctl;

/// <summary>A process's output lines as "out LINE" / "err LINE", with a wait for a line starting with a text.</summary>
internal sealed class OutputLines
{
    private readonly List<string> lines = [];

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

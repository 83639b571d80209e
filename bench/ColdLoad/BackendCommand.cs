using System.Globalization;
using System.Text;

namespace UnifiedLlm.Bench.ColdLoad;

/// <summary>A llama-server command line as ullmd ran it, read back from /proc, to be run again on another port.</summary>
internal sealed record BackendCommand(string Executable, IReadOnlyList<string> Arguments)
{
    public static BackendCommand OfProcess(int pid)
    {
        var argv = Encoding.UTF8.GetString(File.ReadAllBytes($"/proc/{pid}/cmdline")).TrimEnd('\0').Split('\0');
        return new BackendCommand(argv[0], argv[1..]);
    }

    public IReadOnlyList<string> WithPort(int port)
    {
        var at = Arguments.ToList().IndexOf("--port");
        if (at < 0 || at + 1 >= Arguments.Count)
        {
            throw new InvalidOperationException($"no --port in {string.Join(' ', Arguments)}");
        }

        return [.. Arguments.Take(at + 1), port.ToString(CultureInfo.InvariantCulture), .. Arguments.Skip(at + 2)];
    }

    public override string ToString() => string.Join(' ', Arguments);
}

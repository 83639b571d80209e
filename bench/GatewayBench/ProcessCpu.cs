using System.Globalization;

namespace UnifiedLlm.Bench;

/// <summary>
/// CPU time used by a process and all its descendants (nginx's workers, npx's node), from /proc: what a proxy costs per
/// request, a figure that other load on the machine disturbs far less than requests/s.
/// </summary>
internal static class ProcessCpu
{
    private static readonly double TicksPerSecond = 100; // USER_HZ on Linux

    public static TimeSpan OfTree(int root)
    {
        var stats = new List<(int Pid, int Parent, long Ticks)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && Read(pid) is { } stat)
            {
                stats.Add((pid, stat.Parent, stat.Ticks));
            }
        }

        var inTree = new HashSet<int> { root };
        bool grew;
        do
        {
            grew = false;
            foreach (var (pid, parent, _) in stats)
            {
                if (inTree.Contains(parent) && inTree.Add(pid))
                {
                    grew = true;
                }
            }
        }
        while (grew);
        return TimeSpan.FromSeconds(stats.Where(s => inTree.Contains(s.Pid)).Sum(s => s.Ticks) / TicksPerSecond);
    }

    private static (int Parent, long Ticks)? Read(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            // The command name may hold spaces and parentheses; the fields after its last ')' are fixed.
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            return (int.Parse(fields[1], CultureInfo.InvariantCulture), long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return null;
        }
    }
}

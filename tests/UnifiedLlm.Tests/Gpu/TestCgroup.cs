using System.Diagnostics;

namespace UnifiedLlm.Tests.Gpu;

/// <summary>
/// A real cgroup created as a child of the test process's own cgroup (in the unified hierarchy where there is one,
/// else systemd's v1 hierarchy), holding `sleep` processes the test starts. Disposing kills them and removes the cgroup.
/// </summary>
public sealed class TestCgroup : IAsyncDisposable
{
    private readonly List<Process> sleepers = [];
    private readonly List<string> directories = [];

    private TestCgroup(string hierarchyRoot, string controlGroup)
    {
        HierarchyRoot = hierarchyRoot;
        ControlGroup = controlGroup;
    }

    public string HierarchyRoot { get; }

    /// <summary>The cgroup path as systemd's ControlGroup property would give it.</summary>
    public string ControlGroup { get; }

    /// <summary>Creates the cgroup, or skips the test with the reason it cannot be created here.</summary>
    public static TestCgroup Create()
    {
        var (root, own) = OwnCgroup();
        var controlGroup = $"{own.TrimEnd('/')}/ullm-test-{Guid.NewGuid():N}";
        var cgroup = new TestCgroup(root, controlGroup);
        try
        {
            cgroup.MakeDirectory(controlGroup);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Assert.Skip($"cannot create a cgroup under {root}{own} ({e.Message}); run the tests as root with a writable cgroup mount");
        }

        return cgroup;
    }

    /// <summary>The hierarchy mount and this process's cgroup in it, from /proc/self/cgroup.</summary>
    public static (string Root, string Path) OwnCgroup()
    {
        var lines = File.ReadAllLines("/proc/self/cgroup");
        string? Find(string prefix) => lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..];

        if (File.Exists("/sys/fs/cgroup/cgroup.controllers") && Find("0::") is { } unified)
        {
            return ("/sys/fs/cgroup", unified);
        }

        if (File.Exists("/sys/fs/cgroup/unified/cgroup.controllers") && Find("0::") is { } hybrid)
        {
            return ("/sys/fs/cgroup/unified", hybrid);
        }

        var systemd = lines.Select(l => l.Split(':', 3)).FirstOrDefault(f => f.Length == 3 && f[1] == "name=systemd");
        if (systemd is not null && Directory.Exists("/sys/fs/cgroup/systemd"))
        {
            return ("/sys/fs/cgroup/systemd", systemd[2]);
        }

        Assert.Skip("no cgroup v2, hybrid or systemd v1 hierarchy is mounted under /sys/fs/cgroup");
        throw new InvalidOperationException("unreachable: Assert.Skip throws");
    }

    /// <summary>Creates a child cgroup below this one and returns its path.</summary>
    public string CreateChild(string name)
    {
        var child = $"{ControlGroup}/{name}";
        MakeDirectory(child);
        return child;
    }

    /// <summary>Starts `sleep` and moves it into <paramref name="controlGroup"/> (this cgroup when null).</summary>
    public async Task<int> StartSleeperAsync(string? controlGroup = null)
    {
        var sleeper = Process.Start(new ProcessStartInfo("sleep", "600")) ?? throw new InvalidOperationException("could not start sleep");
        sleepers.Add(sleeper);
        await File.WriteAllTextAsync(ProcsFile(controlGroup ?? ControlGroup), sleeper.Id.ToString());
        return sleeper.Id;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var sleeper in sleepers)
        {
            sleeper.Kill();
            await sleeper.WaitForExitAsync();
            sleeper.Dispose();
        }

        // Children first; the kernel may need a moment after the last member is reaped before rmdir succeeds.
        foreach (var directory in Enumerable.Reverse(directories))
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    Directory.Delete(directory);
                    break;
                }
                catch (IOException) when (attempt < 50)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100));
                }
            }
        }
    }

    private void MakeDirectory(string controlGroup)
    {
        var directory = HierarchyRoot + controlGroup;
        Directory.CreateDirectory(directory);
        directories.Add(directory);
    }

    private string ProcsFile(string controlGroup) => Path.Join(HierarchyRoot + controlGroup, "cgroup.procs");
}

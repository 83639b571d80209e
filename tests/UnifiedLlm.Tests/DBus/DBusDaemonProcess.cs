using System.Diagnostics;

namespace UnifiedLlm.Tests.DBus;

/// <summary>
/// A real /usr/bin/dbus-daemon on a socket in a fresh temp directory, with a private permissive config.
/// Readiness is the address it prints once listening; disposal kills it and removes the directory.
/// </summary>
internal sealed class DBusDaemonProcess : IAsyncDisposable
{
    private const string DaemonPath = "/usr/bin/dbus-daemon";

    private readonly Process _process;
    private readonly DirectoryInfo _directory;

    private DBusDaemonProcess(Process process, DirectoryInfo directory, string address)
    {
        _process = process;
        _directory = directory;
        Address = address;
    }

    public string Address { get; }

    /// <param name="authMechanism">The only SASL mechanism the daemon will accept.</param>
    public static async Task<DBusDaemonProcess> StartAsync(string authMechanism = "EXTERNAL")
    {
        if (!File.Exists(DaemonPath))
        {
            Assert.Fail($"{DaemonPath} is missing: install it (Debian: apt-get install dbus-daemon) to run the D-Bus integration tests");
        }

        var directory = Directory.CreateTempSubdirectory("ullm-dbus-test-");
        var config = Path.Combine(directory.FullName, "bus.conf");
        await File.WriteAllTextAsync(config, $"""
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>session</type>
              <listen>unix:path={directory.FullName}/bus</listen>
              <auth>{authMechanism}</auth>
              {(authMechanism == "ANONYMOUS" ? "<allow_anonymous/>" : "")}
              <policy context="default">
                <allow send_destination="*" eavesdrop="true"/>
                <allow eavesdrop="true"/>
                <allow own="*"/>
              </policy>
            </busconfig>
            """);
        var start = new ProcessStartInfo(DaemonPath, ["--config-file=" + config, "--nofork", "--nopidfile", "--nosyslog", "--print-address=1"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("dbus-daemon did not start");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var address = await process.StandardOutput.ReadLineAsync(timeout.Token);
        if (string.IsNullOrEmpty(address))
        {
            var stderr = await process.StandardError.ReadToEndAsync(timeout.Token);
            process.Dispose();
            directory.Delete(recursive: true);
            Assert.Fail($"dbus-daemon exited without printing its address: {stderr}");
        }

        return new DBusDaemonProcess(process, directory, address!.Trim());
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        _directory.Delete(recursive: true);
    }
}

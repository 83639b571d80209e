using System.Net.Sockets;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Prepares a unix socket path before Kestrel binds it: creates the directory, and removes a stale socket file left by a
/// crashed run — only if it is a socket and nobody accepts connections on it. Kestrel itself never removes it.
/// </summary>
internal static class UnixSocketFiles
{
    public static void Prepare(string path)
    {
        var directory = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        var type = Native.FileTypeBits(path);
        if (type is null)
        {
            return;
        }

        if (type != Native.SocketTypeBits)
        {
            throw new IOException($"{path} exists and is not a socket; refusing to replace it");
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            File.Delete(path);
            return;
        }

        throw new IOException($"{path} is in use by a running process (another ullmd?); stop it first");
    }
}

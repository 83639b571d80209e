using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>
/// Opens a file for reading without blocking on FIFOs: a plain open(2) of a named pipe waits for a writer forever,
/// so the file is opened with O_NONBLOCK (which regular files ignore) and anything that cannot seek is refused.
/// </summary>
internal static partial class RegularFile
{
    private const int ReadOnly = 0;
    private const int NonBlocking = 0x800;
    private const int CloseOnExec = 0x80000;

    public static FileStream OpenRead(string path)
    {
        var fd = Open(path, ReadOnly | NonBlocking | CloseOnExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"{path}: cannot open: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        FileStream stream;
        try
        {
            stream = new FileStream(handle, FileAccess.Read, bufferSize: 1);
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw new GgufFormatException(path, null, "not a regular file (a pipe, socket or terminal)");
        }

        return stream;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);
}

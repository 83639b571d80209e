using System.Runtime.InteropServices;
using UnifiedLlm.Daemon.Logging;
using static UnifiedLlm.Daemon.Logging.JournalNative;

namespace UnifiedLlm.Tests.Logging;

/// <summary>The interop structures against the 64-bit Linux ABI (x86_64 and arm64 agree on all of these).</summary>
public sealed unsafe class JournalNativeLayoutTests
{
    [Fact]
    public void Msghdr_matches_the_lp64_linux_layout()
    {
        Assert.Equal(56, sizeof(MessageHeader));
        Assert.Equal(0, Offset<MessageHeader>(nameof(MessageHeader.Name)));
        Assert.Equal(8, Offset<MessageHeader>(nameof(MessageHeader.NameLength)));
        Assert.Equal(16, Offset<MessageHeader>(nameof(MessageHeader.Iov)));
        Assert.Equal(24, Offset<MessageHeader>(nameof(MessageHeader.IovLength)));
        Assert.Equal(32, Offset<MessageHeader>(nameof(MessageHeader.Control)));
        Assert.Equal(40, Offset<MessageHeader>(nameof(MessageHeader.ControlLength)));
        Assert.Equal(48, Offset<MessageHeader>(nameof(MessageHeader.Flags)));
    }

    [Fact]
    public void Cmsghdr_and_the_cmsg_macros_match_the_lp64_linux_layout()
    {
        Assert.Equal(16, sizeof(ControlMessageHeader));
        Assert.Equal(8, Offset<ControlMessageHeader>(nameof(ControlMessageHeader.Level)));
        Assert.Equal(12, Offset<ControlMessageHeader>(nameof(ControlMessageHeader.Type)));
        Assert.Equal(20, ControlLengthForOneFd);
        Assert.Equal(24, ControlSpaceForOneFd);
        Assert.Equal(16, sizeof(IoVector));
    }

    private static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);
}

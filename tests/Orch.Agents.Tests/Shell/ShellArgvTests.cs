using Orch.Agents.Shell;

namespace Orch.Agents.Tests.Shell;

public sealed class ShellArgvTests
{
    [Fact]
    public void DefaultIsPosixShWithErrexit()
    {
        Assert.Equal(["/bin/sh", "-e", "-c", "echo hi"], ShellArgv.For(null, "echo hi"));
        Assert.Equal(["/bin/sh", "-e", "-c", "echo hi"], ShellArgv.For("sh", "echo hi"));
    }

    [Fact]
    public void BashUsesPipefail() =>
        Assert.Equal(["bash", "-eo", "pipefail", "-c", "a | b"], ShellArgv.For("bash", "a | b"));

    [Fact]
    public void OtherShellsAreSplitOnWhitespace()
    {
        Assert.Equal(["python3", "-c", "print(1)"], ShellArgv.For("python3", "print(1)"));
        Assert.Equal(["pwsh", "-NoProfile", "-c", "x y"], ShellArgv.For("  pwsh \t -NoProfile ", "x y"));
        Assert.Equal(["/bin/zsh", "-e", "-c", ""], ShellArgv.For("/bin/zsh -e", string.Empty));
    }

    [Fact]
    public void BlankShellIsRejected() => Assert.Throws<ArgumentException>(() => ShellArgv.For("  ", "true"));
}

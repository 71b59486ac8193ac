using System.Text;

namespace Orch.Agents;

/// <summary>A log writer that creates its file only when something is written, so silent actions leave no files behind.</summary>
internal sealed class LazyFileWriter(string path) : TextWriter
{
    private StreamWriter? _inner;

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value) => Inner.Write(value);
    public override void Write(string? value) => Inner.Write(value);
    public override void WriteLine(string? value) => Inner.WriteLine(value);
    public override Task WriteLineAsync(string? value) => Inner.WriteLineAsync(value);
    public override Task WriteAsync(string? value) => Inner.WriteAsync(value);
    public override void Flush() => _inner?.Flush();

    private StreamWriter Inner
    {
        get
        {
            if (_inner is not null) return _inner;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            return _inner = new StreamWriter(path, append: false, Encoding.UTF8) { AutoFlush = false };
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner?.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_inner is not null) await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}

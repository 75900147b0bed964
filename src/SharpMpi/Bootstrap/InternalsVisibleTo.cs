using System.Runtime.CompilerServices;

// The launcher's tests drive KvsClient and LaunchInfo directly. This belongs beside the other
// InternalsVisibleTo items in SharpMpi.csproj; it lives here only because the launcher branch keeps
// its library changes inside Bootstrap/.
[assembly: InternalsVisibleTo("SharpMpi.Run.Tests")]

// SharpMPI micro-benchmarks in the output formats of the OSU Micro-Benchmarks and of nccl-tests, run as an
// MPI job (or through `sharpmpi bench <verb>`):
//   ./mpirun -n 2 bench/SharpMpi.Bench latency -m 0:4M
//   ./mpirun -n 4 bench/SharpMpi.Bench allreduce -b 8 -e 128M -f 2 --dtype double
// `SharpMpi.Bench summarize RAW_DIR PREFIX DESCRIPTION` turns bench/compare's raw outputs into tables.
using SharpMpi.Bench;

if (args.Length == 4 && args[0] == "summarize")
    return Summarize.Run(args[1], args[2], args[3]);

return BenchCli.Run(args);

package main

import "runtime"

func goMaxProcs() int  { return runtime.GOMAXPROCS(0) }
func runtimeCPUs() int { return runtime.NumCPU() }

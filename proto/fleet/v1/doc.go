// Package fleetv1 is the wire contract between spoke agents, the hub and admin
// clients: the Registration bootstrap service, the Spoke stream and the Fleet
// admin API. The .proto files are the source; the .pb.go files are generated.
package fleetv1

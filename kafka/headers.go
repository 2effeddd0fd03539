package kafka

// Header names of a dead-lettered message: the writer sets them, and
// `boxoffice dlq` reads them.
const (
	// HeaderReason says why the message could not be processed.
	HeaderReason = "reason"
	// HeaderSourceTopic, HeaderSourcePartition and HeaderSourceOffset say
	// where an undecodable message was read (absent for a reservation that
	// decoded but could not be written).
	HeaderSourceTopic     = "source-topic"
	HeaderSourcePartition = "source-partition"
	HeaderSourceOffset    = "source-offset"
)

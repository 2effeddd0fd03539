package gateway

import (
	"reflect"
	"testing"

	"github.com/boxoffice/boxoffice/seatmap"
)

func TestRenderSeats(t *testing.T) {
	m, err := seatmap.Parse([]byte(`{"sections":[{"name":"A","tier":"R","rows":[{"seats":6},{"seats":3,"tier":"S"}]},{"name":"B","rows":[{"row":7,"seats":2}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	bits := make([]byte, 2)
	for _, id := range []string{"A-1-2", "A-1-3", "A-1-6", "A-2-1", "A-2-2", "A-2-3"} {
		i, _ := m.Index(id)
		bits[i/8] |= 0x80 >> (i % 8)
	}
	got := renderSeats(9, m, bits)
	want := SeatsView{ConcertID: 9, Capacity: 11, Free: 5, Sections: []SectionView{
		{Name: "A", Tier: "R", Seats: 9, Free: 3, Rows: []RowView{{Row: 1, Seats: 6, Free: "1,4-5"}, {Row: 2, Seats: 3, Tier: "S", Free: ""}}},
		{Name: "B", Seats: 2, Free: 2, Rows: []RowView{{Row: 7, Seats: 2, Free: "1-2"}}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// BenchmarkRenderSeats is the cost of one uncached answer for a 50,000-seat
// house (10 sections × 100 rows × 50 seats), every other seat taken: the
// worst case for ranges.
func BenchmarkRenderSeats(b *testing.B) {
	m, err := seatmap.Generate(10, 100, 50)
	if err != nil {
		b.Fatal(err)
	}
	bits := make([]byte, (m.Capacity()+7)/8)
	for i := range bits {
		bits[i] = 0xaa
	}
	b.ReportAllocs()
	for b.Loop() {
		renderSeats(1, m, bits)
	}
}

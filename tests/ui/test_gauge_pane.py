"""The gauge pane: a sample that changes nothing repaints nothing, one that changes a figure repaints its lines."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from edgetui.ui.widgets.gauge_pane import GaugePane


class Gauges(App):
    def compose(self) -> ComposeResult:
        yield GaugePane(id="gauges")


async def test_an_unchanged_figure_is_not_repainted_and_a_changed_one_needs_no_layout():
    app = Gauges()
    async with app.run_test(size=(40, 30)) as pilot:
        pane = app.query_one(GaugePane)
        pane.show_memory(300 * 2**20, 8 * 2**30, 24 * 2**30, 50.0)
        await pilot.pause()
        mem = pane.query_one("#g-mem", Static)
        assert "CPU  50%" in str(mem.render())
        assert "RSS  300 MiB\nRAM  8.00 GiB/24.0 GiB" in str(mem.render())  # IEC units
        calls: list[bool] = []
        refresh = mem.refresh

        def spy(*regions, layout: bool = False, **kwargs):
            calls.append(layout)
            return refresh(*regions, layout=layout, **kwargs)

        mem.refresh = spy  # type: ignore[method-assign]
        pane.show_memory(300 * 2**20, 8 * 2**30, 24 * 2**30, 50.0)  # the same figures
        assert calls == []
        pane.show_memory(300 * 2**20, 8 * 2**30, 24 * 2**30, 75.0)  # one figure, as many lines
        assert calls and not any(calls)
        assert "CPU  75%" in str(mem.render())
        calls.clear()
        pane.show_memory(300 * 2**20, None, None, 75.0)  # a line less: the pane is laid out again
        assert any(calls)
        await pilot.pause()
        assert "RAM" not in str(mem.render())


async def test_sizes_are_iec_and_a_gpu_line_fits_the_pane():
    from types import SimpleNamespace

    app = Gauges()
    async with app.run_test(size=(40, 30)) as pilot:
        pane = app.query_one(GaugePane)
        gpu = SimpleNamespace(index=0, vram_used=int(12.3 * 2**30), vram_total=140 * 2**30, util_percent=100.0)
        pane.show_gpus([gpu])
        await pilot.pause()
        static = pane.query_one("#g-gpu", Static)
        assert str(static.render()) == "0 12.3 GiB/140 GiB 100%"
        assert static.size.height == 1  # not wrapped in the 23 columns of the pane

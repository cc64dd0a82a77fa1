"""Animations of training: one display built once, moved frame by frame, written as GIF or MP4.

A *scene* is any figure display with an ``update(row)`` method that moves its artists to params
row ``row`` and returns the artists it changed (``OverviewFigure`` and the single views). An
``Animation`` draws everything that stays the same once, keeps those pixels, and per frame only
restores them and draws the changed artists on top (blitting), in the order a full draw uses.
The same display draws the static figure, so the last frame is the static figure of the run and
every frame is the static figure at its step.

>>> anim = Animation(OverviewFigure.from_history(history), rows=[0, 10, 1000], fps=20)  # doctest: +SKIP
>>> anim.save("out/overview.gif")                                                     # doctest: +SKIP
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import BackpropvizError

FORMATS = ("gif", "mp4")
ANIMATED_VIEWS = ("overview", "probability", "hidden", "network", "landscape")
MAX_FPS = 50  # GIF delays are whole hundredths of a second, and browsers slow anything below 2
VIDEO_HINT = ("MP4 needs the optional imageio-ffmpeg package (it brings its own ffmpeg): "
              "pip install 'backpropviz[video]', or use --format gif")
MP4_OPTIONS = ["-crf", "20", "-preset", "medium", "-movflags", "+faststart"]  # H.264 that browsers play


def check_fps(fps) -> float:
    """Frames per second as a float in (0, MAX_FPS], or a BackpropvizError."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise BackpropvizError(f"--fps must be a number in (0, {MAX_FPS}]; got {fps!r} instead") from None
    if not 0 < value <= MAX_FPS:
        raise BackpropvizError(f"--fps must be a number in (0, {MAX_FPS}]; got {fps!r} instead")
    return value


def check_animation_format(fmt: str, option: str = "--format") -> str:
    key = str(fmt).lower().lstrip(".")
    if key not in FORMATS:
        raise BackpropvizError(f"{option} must be one of {', '.join(FORMATS)} for an animation; got {fmt!r}")
    return key


def require_video():
    """The imageio_ffmpeg module, or the one line saying how to install it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise BackpropvizError(VIDEO_HINT) from None
    return imageio_ffmpeg


def gif_delay_cs(fps: float) -> int:
    """A GIF frame's delay in hundredths of a second (the format's unit) closest to 1/fps."""
    return max(2, int(round(100.0 / fps)))


def check_view_fits(history, view: str) -> None:
    """Refuse, in one line and before any drawing, a view that ``history`` cannot show."""
    from ..analysis.views import layers, require_plane
    from .base import require_perceptron

    if view not in ANIMATED_VIEWS:
        raise BackpropvizError(f"unknown view {view!r} to animate; choose from: {', '.join(ANIMATED_VIEWS)}")
    if view == "overview":
        require_perceptron(history, "overview")
    elif view in ("probability", "hidden"):
        require_plane(history, view)
        if view == "hidden" and len(layers(history.param_names)) < 2:
            raise BackpropvizError(f"the hidden view needs a model with hidden layers (e.g. --model mlp:4); "
                                   f"got model {history.config.get('model', '?')!r}")


def build_scene(history, view: str, lang: str, rows, *, span: float, resolution: int, plane_resolution: int,
              landscape_method: str = "pca"):
    """The display that ``view`` animates, drawn at the finished run (the static figure)."""
    from .base import require_perceptron
    from .overview import OverviewFigure
    from .probability import ProbabilityMapDisplay

    if view == "overview":
        require_perceptron(history, "overview")
        return OverviewFigure.from_history(history, span=span, resolution=resolution, lang=lang)
    if view == "probability":
        from ..analysis.views import require_plane

        require_plane(history, "probability")
        display = ProbabilityMapDisplay.for_animation(history, rows, resolution=plane_resolution, lang=lang)
        return CornerLabel(display, history, lang, ax=display.axes_[0])
    if view == "hidden":
        from ..analysis.views import require_plane
        from .hidden import HiddenUnitsDisplay

        require_plane(history, "hidden")
        display = HiddenUnitsDisplay.for_animation(history, resolution=min(plane_resolution, 80), lang=lang)
        return CornerLabel(display, history, lang)
    if view == "landscape":
        from ..analysis.landscape import plane
        from .landscape import LandscapeFigure

        land = plane(history, method=landscape_method, resolution=resolution)
        return CornerLabel(LandscapeFigure(land, "filled", lang=lang), history, lang)
    if view == "network":
        from .network import NetworkDiagramDisplay

        display = NetworkDiagramDisplay.for_animation(history, lang=lang)
        return CornerLabel(display, history, lang, ax=display.axes_[0])
    raise BackpropvizError(f"unknown view {view!r} to animate; choose from: {', '.join(ANIMATED_VIEWS)}")


def animation(history, view: str = "overview", *, frames: int = 100, fps: float = 20.0, spacing: str = "movement",
              lang=None, dpi=None, span: float = 8.0, resolution: int = 50, plane_resolution: int = 120,
              landscape_method: str = "pca") -> "Animation":
    """An animation of ``history``'s ``view``; as a notebook cell's last expression it plays inline.

    >>> from backpropviz.train import train; from backpropviz.config import RunConfig   # doctest: +SKIP
    >>> anim = animation(train(RunConfig()), frames=60)                                  # doctest: +SKIP
    >>> anim                     # in Jupyter: an HTML5 video (or the GIF without imageio-ffmpeg)
    >>> anim.save("overview.gif")                                                        # doctest: +SKIP
    """
    from ..analysis.frames import choose_frames
    from ..i18n import resolve_lang

    lang = resolve_lang(lang)
    rows = choose_frames(history.params, frames, spacing=spacing).rows
    scene = build_scene(history, view, lang, rows, span=span, resolution=resolution,
                        plane_resolution=plane_resolution, landscape_method=landscape_method)
    return Animation(scene, rows, fps=fps, dpi=dpi)


class CornerLabel:
    """A scene that wraps a display with ``update(row)`` and says in the figure's top left
    corner which step and epoch each frame shows (the overview says it itself)."""

    def __init__(self, display, history, lang: str, *, ax=None):
        from .base import epoch_axis

        self.display, self.figure_ = display, display.figure_
        self.n_steps, self.epochs = history.n_steps, epoch_axis(history.epoch)
        self.lang = lang
        self.ax = ax  # given: on the line of its title, at its left end (the title is centred)
        self.label_ = None

    def __repr__(self) -> str:
        return f"CornerLabel({self.display!r})"

    def update(self, row: int):
        from ..i18n import t
        from .base import fmt_epoch
        from .fonts import use_language

        text = t("anim_frame_label", self.lang, step=row, steps=self.n_steps, epoch=fmt_epoch(self.epochs[row]))
        if self.label_ is None:
            with use_language(self.lang):
                if self.ax is None:
                    self.label_ = self.figure_.text(0.01, 0.99, text, ha="left", va="top", fontsize=9,
                                                    color="0.15")
                else:
                    self.label_ = self.ax.text(0.0, 1.0, text, transform=self.ax.transAxes, ha="left",
                                               va="bottom", fontsize=8, color="0.25")
                self.label_.set_in_layout(False)  # the layout of the static figure, unchanged
        self.label_.set_text(text)
        return [*self.display.update(row), self.label_]


class Animation:
    """Frames of ``scene`` at params ``rows`` (increasing), ``fps`` frames a second.

    ``draw_seconds_`` and ``encode_seconds_`` say where the time of the last ``save`` went.
    """

    def __init__(self, scene, rows, *, fps: float = 20.0, dpi: float | None = None):
        self.scene = scene
        self.rows = [int(r) for r in rows]
        if not self.rows:
            raise BackpropvizError("an animation needs at least one frame")
        self.fps = check_fps(fps)
        self.dpi = dpi
        self.draw_seconds_ = self.encode_seconds_ = 0.0
        self._background, self._still = None, set()

    def __repr__(self) -> str:
        return f"Animation({type(self.scene).__name__}, frames={len(self.rows)}, fps={self.fps:g})"

    @property
    def figure(self):
        return self.scene.figure_

    # -- drawing -----------------------------------------------------------------------------

    def _moving(self, artists):
        """The artists an update returned, animated (left out of full draws), in draw order:
        axes by axes, by zorder, the order they were made within one zorder."""
        axes = list(self.figure.axes)
        moving = [a for a in dict.fromkeys(artists) if a not in self._still]
        for artist in moving:
            artist.set_animated(True)

        def order(artist):
            ax = getattr(artist, "axes", None)
            return (axes.index(ax) if ax in axes else len(axes), artist.get_zorder())

        return sorted(moving, key=order)

    def _prepare(self) -> None:
        """Draw what never changes once and keep it.

        A legend whose words stay the same is drawn with the background unless a changing line
        ever crosses it (the paths only grow, so the last row's paths are checked)."""
        from matplotlib.legend import Legend

        fig = self.figure
        if self.dpi is not None:
            fig.set_dpi(self.dpi)
        self._still = set()
        first = self.scene.update(self.rows[0])  # what the first update makes is made once
        words = {a: [t.get_text() for t in a.get_texts()] for a in first if isinstance(a, Legend)}
        moving = self._moving(self.scene.update(self.rows[-1]))
        legends = [a for a in moving if isinstance(a, Legend) and words.get(a) == [t.get_text() for t in a.get_texts()]]
        # A layout engine moves things a little at every draw: keep the places of the first draw,
        # the one that saving the static figure makes.
        fig.canvas.draw()
        if fig.get_layout_engine() is not None:
            fig.set_layout_engine("none")
        if legends:
            renderer = fig.canvas.get_renderer()
            for artist in moving:  # 3D lines learn their projected 2D path when drawn
                if not isinstance(artist, Legend) and artist.get_visible():
                    artist.draw(renderer)
            for legend in legends:
                if not _crossed(legend, [a for a in moving if a.axes is legend.axes and a is not legend],
                                renderer):
                    legend.set_animated(False)
                    self._still.add(legend)
        self._moving(self.scene.update(self.rows[0]))
        fig.canvas.draw()
        self._background = fig.canvas.copy_from_bbox(fig.bbox)

    def _draw(self, row: int) -> np.ndarray:
        """Frame ``row`` as RGBA pixels (height, width, 4)."""
        fig = self.figure
        moving = self._moving(self.scene.update(row))
        fig.canvas.restore_region(self._background)
        for artist in moving:
            if artist.get_visible():
                fig.draw_artist(artist)
        return np.array(fig.canvas.buffer_rgba())

    def frames(self):
        """The frames as RGBA arrays (height, width, 4), one per row, drawn as they are asked for."""
        from .figures import gc_paused

        with gc_paused():
            self._prepare()
            for row in self.rows:
                yield self._draw(row)

    def frame(self, k: int) -> np.ndarray:
        """Frame ``k`` alone (it draws the background first)."""
        self._prepare()
        return self._draw(self.rows[k])

    # -- files ---------------------------------------------------------------------------------

    def _timed(self, frames):
        """Pass ``frames`` through, adding the time spent making each one to ``draw_seconds_``."""
        it = iter(frames)
        while True:
            start = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                return
            self.draw_seconds_ += time.perf_counter() - start
            yield frame

    def write(self, f, fmt: str) -> None:
        """Encode every frame as ``fmt`` (gif or mp4) into the open binary file ``f``."""
        fmt = check_animation_format(fmt)
        self.draw_seconds_ = self.encode_seconds_ = 0.0
        start = time.perf_counter()
        if fmt == "gif":
            self._write_gif(f)
        else:
            self._write_mp4(f)
        self.encode_seconds_ = time.perf_counter() - start - self.draw_seconds_

    def save(self, path, fmt: str | None = None) -> Path:
        """Write the animation to ``path`` (format from its suffix unless given), atomically."""
        from ..history import atomic_write

        path = Path(path)
        fmt = check_animation_format(fmt or path.suffix)
        if fmt == "mp4":
            require_video()
        atomic_write(path, lambda f: self.write(f, fmt))
        return path

    def to_bytes(self, fmt: str = "gif") -> bytes:
        import io

        buf = io.BytesIO()
        self.write(buf, fmt)
        return buf.getvalue()

    def _write_gif(self, f) -> None:
        """One palette for all frames (median cut over the first and last frames, which hold every
        colour the run uses), each frame mapped onto it; Pillow stores only what changed."""
        from PIL import Image

        from .figures import gc_paused

        def rgb(rgba):
            return Image.fromarray(rgba, "RGBA").convert("RGB")

        with gc_paused():
            start = time.perf_counter()
            self._prepare()
            sample = np.concatenate([self._draw(self.rows[0]), self._draw(self.rows[-1])])
            self.draw_seconds_ += time.perf_counter() - start
            palette = rgb(sample).quantize(colors=255, method=Image.Quantize.MEDIANCUT)
            images = [rgb(frame).quantize(palette=palette, dither=Image.Dither.NONE)
                      for frame in self._timed(self._draw(row) for row in self.rows)]
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                       duration=gif_delay_cs(self.fps) * 10, loop=0,
                       optimize=True)  # pixels unchanged since the last frame become transparent

    def _write_mp4(self, f) -> None:
        ffmpeg = require_video()
        frames = self._timed(self.frames())
        first = next(frames)
        height, width = first.shape[:2]
        even = (height + height % 2, width + width % 2)  # yuv420p halves both sides

        def padded(a):
            if a.shape[:2] == even:
                return a
            out = np.full((*even, 4), 255, np.uint8)
            out[:height, :width] = a
            return out

        with tempfile.TemporaryDirectory() as folder:
            target = str(Path(folder) / "animation.mp4")
            writer = ffmpeg.write_frames(target, (even[1], even[0]), fps=self.fps, codec="libx264",
                                         pix_fmt_in="rgba", quality=None, macro_block_size=1, output_params=MP4_OPTIONS,
                                         ffmpeg_log_level="error")
            writer.send(None)
            try:
                writer.send(np.ascontiguousarray(padded(first)).tobytes())
                for frame in frames:
                    writer.send(np.ascontiguousarray(padded(frame)).tobytes())
            finally:
                writer.close()
            with open(target, "rb") as src:
                shutil.copyfileobj(src, f)

    # -- notebooks -----------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        """Shown inline when the animation is a cell's last expression: an HTML5 video when
        imageio-ffmpeg is installed, else the GIF as an image."""
        try:
            require_video()
        except BackpropvizError:
            data = base64.b64encode(self.to_bytes("gif")).decode("ascii")
            return f'<img src="data:image/gif;base64,{data}" alt="animation, {len(self.rows)} frames">'
        data = base64.b64encode(self.to_bytes("mp4")).decode("ascii")
        return (f'<video controls autoplay loop muted playsinline>'
                f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>')


CROSS_PAD = 8  # pixels around a legend that a moving marker must also keep clear of


def _crossed(legend, artists, renderer) -> bool:
    """Whether any of ``artists`` (lines, as last drawn) passes through ``legend``'s box."""
    from matplotlib.lines import Line2D

    box = legend.get_window_extent(renderer)
    box = type(box).from_extents(box.x0 - CROSS_PAD, box.y0 - CROSS_PAD, box.x1 + CROSS_PAD, box.y1 + CROSS_PAD)
    for artist in artists:
        if not isinstance(artist, Line2D):
            return True  # not a line: be safe, redraw the legend over it
        path = artist.get_transform().transform_path(artist.get_path())
        if len(path.vertices) and (path.intersects_bbox(box, filled=False)
                                   or box.count_contains(path.vertices)):
            return True
    return False

"""Decoded chunks kept for the next tile: the same pixels as reading the file, fewer decodes."""

from __future__ import annotations

import numpy as np
import pytest

from napari_ifcell.io import open_slide
from napari_ifcell.io.chunk_cache import DecodedChunkCache, read_through_cache
from napari_ifcell.pipeline.tiling import tiles


@pytest.mark.parametrize("which", ["if_path", "he_path"])
def test_cached_reads_equal_the_files_pixels(small_pair, which):
    with (
        open_slide(getattr(small_pair, which), pixel_size_um=0.325) as plain,
        open_slide(getattr(small_pair, which), pixel_size_um=0.325) as cached,
    ):
        read_through_cache(cached, max_bytes=1 << 20)  # small: chunks are evicted on the way
        rng = np.random.default_rng(0)
        h, w = plain.shape
        for _ in range(25):  # windows across chunk edges, off the slide, one channel or all
            y, x = int(rng.integers(-100, h)), int(rng.integers(-100, w))
            size = int(rng.integers(1, 600)), int(rng.integers(1, 600))
            channels = None if plain.is_rgb or rng.random() < 0.3 else [int(rng.integers(plain.n_channels))]
            np.testing.assert_array_equal(
                cached.read_region(y, x, *size, channels=channels), plain.read_region(y, x, *size, channels=channels)
            )
        array = cached.cached_levels[0]
        assert isinstance(array, DecodedChunkCache) and array._bytes <= 1 << 20


def test_tiles_with_halos_decode_each_chunk_about_once(small_pair):
    with open_slide(small_pair.if_path) as slide:
        read_through_cache(slide)
        cache = slide.cached_levels[0]
        cy, cx = slide.chunk_yx
        n_chunks = -(-slide.shape[0] // cy) * -(-slide.shape[1] // cx)
        halo = 48
        for y, x, h, w in tiles((0, 0, *slide.shape), 128):  # tiles smaller than the chunks, as segmentation reads
            slide.read_region(y - halo, x - halo, h + 2 * halo, w + 2 * halo, channels=[0])
        n_tiles = len(tiles((0, 0, *slide.shape), 128))
        assert cache.decoded == n_chunks < n_tiles  # without the cache every tile decodes 1-4 chunks


def test_whole_panel_reads_bypass_the_cache_and_bad_indices_are_refused(small_pair):
    with open_slide(small_pair.if_path) as slide:
        read_through_cache(slide)
        cache = slide.cached_levels[0]
        slide.read_region(0, 0, 300, 300)  # every channel, as quantification reads: each chunk once anyway
        assert cache.decoded == 0
        slide.read_region(0, 0, 300, 300, channels=[0])
        assert cache.decoded == 4  # 256 px chunks
        with pytest.raises(IndexError, match="out of range"):
            cache[slide.n_channels, 0:10, 0:10]
        np.testing.assert_array_equal(cache[..., 5:9], np.asarray(slide.levels[0][..., 5:9]))


def test_empty_windows_decode_nothing_and_closing_the_slide_frees_the_caches(small_pair):
    with open_slide(small_pair.if_path) as slide:
        slide.display_levels()
        cache = slide.cached_levels[0]
        assert cache[0, 100:100, 5:300].shape == (0, 295) and cache.decoded == 0  # a window past an edge
        slide.read_region(0, 0, 300, 300, channels=[0, 1, 2])  # a gallery's few markers go through it
        assert cache.decoded == 12 and cache._bytes > 0
    assert cache._bytes == 0 and not cache._kept
